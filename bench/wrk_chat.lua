-- wrk script: POST /v1/chat/completions with a realistic body, non-streaming or streaming.
--
-- Environment:
--   BENCH_KEY     bearer token sent as "Authorization: Bearer <key>" (default "none")
--   BENCH_MODEL   the "model" field (default "m")
--   BENCH_STREAM  "1" sends "stream": true with stream_options.include_usage = true;
--                 wrk counts one whole streamed response as one request
--
-- At the end it prints one line "WRK_JSON {...}" (latencies in microseconds) for
-- bench/proxy_bench.py to parse.

local key = os.getenv("BENCH_KEY") or "none"
local model = os.getenv("BENCH_MODEL") or "m"
local stream = os.getenv("BENCH_STREAM") == "1"

local messages = '[{"role":"system","content":"You are a concise assistant. Answer in two '
  .. 'sentences at most."},{"role":"user","content":"In one short paragraph, what does a '
  .. 'load balancer do, and why would a web service put one in front of its servers?"}]'

local body = '{"model":"' .. model .. '","messages":' .. messages
  .. ',"max_tokens":128,"temperature":0.2'
if stream then
  body = body .. ',"stream":true,"stream_options":{"include_usage":true}'
end
body = body .. '}'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
