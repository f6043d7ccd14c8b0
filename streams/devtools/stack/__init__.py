"""The local stack: a real Apache Kafka node from Maven Central and an embedded PostgreSQL."""
