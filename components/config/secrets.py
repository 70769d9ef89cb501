"""Secret keys (`pulumi config set --secret`): which exist, which are optional, which reach the backend."""

from __future__ import annotations

from typing import Mapping


# Secret keys (`pulumi config set --secret`): read with require_secret, never parsed as plain
# values. The minio engine's credentials are the only ones so far.
SECRET_KEYS: dict[str, str] = {
    "minioAccessKey": "access key of the existing MinIO (objectStorage.engine: minio)",
    "minioSecretKey": "secret key of the existing MinIO (objectStorage.engine: minio)",
    "cloudflareDns01Token": "Cloudflare API token for cert-manager's DNS-01 solver (edge.dns: cloudflare)",
    "alertWebhookUrl": "optional https:// webhook (Slack or generic) Alertmanager notifies",
    "stripeSecret": "Stripe secret API key for the backend (STRIPE_SECRET)",
    "stripeWebhookSecret": "Stripe webhook signing secret (STRIPE_WEBHOOK_SECRET)",
    "twilioAuthToken": "Twilio auth token (TWILIO_AUTH_TOKEN)",
    "googleMapsKey": "Google Maps API key (GOOGLE_MAPS_API_KEY)",
    "exchangeRatesKey": "exchange-rate API key (EXCHANGE_RATES_API_KEY)",
}
# Integration secrets the backend receives, by config key -> environment variable.
INTEGRATION_SECRETS: Mapping[str, str] = {
    "stripeSecret": "STRIPE_SECRET",
    "stripeWebhookSecret": "STRIPE_WEBHOOK_SECRET",
    "twilioAuthToken": "TWILIO_AUTH_TOKEN",
    "googleMapsKey": "GOOGLE_MAPS_API_KEY",
    "exchangeRatesKey": "EXCHANGE_RATES_API_KEY",
}
# Secret keys a stack may set whatever the rest of its configuration says.
OPTIONAL_SECRET_KEYS = {"alertWebhookUrl", *INTEGRATION_SECRETS}
