"""Everything downstream of the scrapers: the Kafka envelope and publisher, the consumer, Elasticsearch indexing."""
