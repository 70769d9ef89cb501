"""The data layer's pieces: one module per stateful system (MariaDB, Redis, RabbitMQ)."""
