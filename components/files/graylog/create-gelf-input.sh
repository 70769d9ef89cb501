#!/bin/sh
# Create the global GELF TCP input Fluent Bit ships to, once. The Graylog chart only opens the
# port (graylog.inputs); the input itself lives in Graylog's database and is made through its
# REST API. Idempotent: an input with the same title is left alone, so the Job may rerun.
#
# Environment: GRAYLOG_URL (http://graylog-svc.<ns>.svc.cluster.local:9000), GRAYLOG_USER,
# GRAYLOG_PASSWORD (from a Secret), INPUT_TITLE, INPUT_PORT.
set -eu

api() {
  curl --silent --show-error --fail --max-time 20 \
    --user "${GRAYLOG_USER}:${GRAYLOG_PASSWORD}" \
    --header 'Accept: application/json' \
    --header 'X-Requested-By: saas-platform' \
    "$@"
}

# Graylog answers ALIVE on the load-balancer status once it can process requests.
attempt=0
until [ "$(curl --silent --max-time 5 "${GRAYLOG_URL}/api/system/lbstatus" || true)" = "ALIVE" ]; do
  attempt=$((attempt + 1))
  if [ "$attempt" -gt 120 ]; then
    echo "Graylog at ${GRAYLOG_URL} did not become ALIVE in 20 minutes" >&2
    exit 1
  fi
  sleep 10
done

if api "${GRAYLOG_URL}/api/system/inputs" | grep -q "\"title\":\"${INPUT_TITLE}\""; then
  echo "input '${INPUT_TITLE}' already exists"
  exit 0
fi

api --request POST --header 'Content-Type: application/json' \
  --data "{\"title\":\"${INPUT_TITLE}\",\"type\":\"org.graylog2.inputs.gelf.tcp.GELFTCPInput\",\"global\":true,\"configuration\":{\"bind_address\":\"0.0.0.0\",\"port\":${INPUT_PORT},\"recv_buffer_size\":1048576,\"number_worker_threads\":2,\"max_message_size\":2097152,\"decompress_size_limit\":8388608,\"use_null_delimiter\":true,\"tls_enable\":false}}" \
  "${GRAYLOG_URL}/api/system/inputs"
echo
echo "input '${INPUT_TITLE}' created on port ${INPUT_PORT}"
