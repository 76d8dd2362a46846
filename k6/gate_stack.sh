# Gate mode of k6/local.sh (GATE=1, or k6/gate.sh): sourced by local.sh once its stack
# is up. `gate_up` creates the gated event and an API key of the shop scoped to it,
# starts the shop (k6/gate_shop.py) and nginx in front of it (deploy/gate/run-nginx.sh,
# fail closed) and fills GATE_K6_ARGS; `gate_check` runs k6/gate_check.py on the shop's
# log and the passes k6 logged. Both processes are added to local.sh's `pids`, so its
# cleanup stops them. Settings (environment): FANS (10000), RATE or RATE_PER_MINUTE
# (600), MAX_ACTIVE (200), PASS_TTL_SECONDS (600), ARRIVAL_SECONDS (60), VUS (FANS / 50,
# at most 200), THINK_S (1), AFTER_MS (1500). Uses local.sh's DIR, admin_key, urls, pids,
# log and free_port.

GATE_FANS=${FANS:-10000}
GATE_RATE=${RATE:-${RATE_PER_MINUTE:-600}}
GATE_MAX_ACTIVE=${MAX_ACTIVE:-200}
GATE_EVENT=""
GATE_K6_ARGS=()

# gate_create GATEWAY_URL TARGET_URL: creates the gated event and the shop's API key;
# prints "EVENT_ID API_KEY".
gate_create() {
    python3 - "$1" "$2" "$admin_key" "$GATE_RATE" "$GATE_MAX_ACTIVE" "${PASS_TTL_SECONDS:-600}" <<'PY'
import datetime, json, sys, time, urllib.request, urllib.error, uuid
base, target, key, rate, max_active, ttl = sys.argv[1:7]

def call(method, path, body):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                 "Idempotency-Key": str(uuid.uuid4())})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}")

opens = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)).replace(microsecond=0)
status, ev = call("POST", "/v1/admin/events", {
    "name": f"k6 gate {opens.isoformat()}", "venue": "k6 hall", "timezone": "UTC",
    "opens_at": opens.isoformat().replace("+00:00", "Z"),
    "admission": {"rate_per_minute": int(rate), "max_active": int(max_active), "pass_ttl_seconds": int(ttl)},
    "hold_ttl_seconds": 60, "max_seats_per_hold": 4,
    "seating": {"sections": [{"name": "A", "rows": 1, "seats_per_row": 10, "price_cents": 5000}]},
    "gate": {"target_url": target},
})
if status == 202:
    deadline = time.time() + 60
    while time.time() < deadline:
        with urllib.request.urlopen(urllib.request.Request(base + ev["status_url"],
                headers={"Authorization": f"Bearer {key}"}), timeout=10) as r:
            done = json.load(r)
        if done.get("state") == "done":
            status, ev = done["status"], done["body"]
            break
        time.sleep(0.3)
if status != 201:
    sys.exit(f"POST /v1/admin/events: {status} {ev}")
_, api_key = call("POST", "/v1/admin/api-keys", {"name": "k6 gate shop", "events": [ev["id"]]})
print(ev["id"], api_key["key"])
PY
}

gate_up() {
    local gateway=${urls[0]} nginx_port shop_port created api_key target deadline nginx_pid
    nginx_port=$(free_port)
    shop_port=$(free_port)
    target="http://127.0.0.1:$nginx_port/shop/"
    created=$(gate_create "$gateway" "$target")
    read -r GATE_EVENT api_key <<<"$created"
    GATE_SHOP_API_KEY=$api_key python3 k6/gate_shop.py --port "$shop_port" --gateway "$gateway" \
        --event "$GATE_EVENT" --log "$DIR/shop.jsonl" >"$DIR/shop.out" 2>&1 &
    pids+=($!)
    deadline=$((SECONDS + 30))
    until curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$shop_port/_health"; do
        ((SECONDS < deadline)) || { cat "$DIR/shop.out" >&2; log "the shop did not start"; exit 1; }
        sleep 0.2
    done
    nginx_pid=$(deploy/gate/run-nginx.sh "$nginx_port" "${gateway#http://}" "127.0.0.1:$shop_port" \
        "$GATE_EVENT" "$DIR/nginx" closed)
    pids+=("$nginx_pid")
    # Until every gateway knows the event's gate, nginx's check answers 404 (fail closed).
    deadline=$((SECONDS + 30))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$target") == 302 ]]; do
        ((SECONDS < deadline)) || { log "nginx did not redirect $target to the queue"; exit 1; }
        sleep 0.3
    done
    log "gate: event $GATE_EVENT, shop :$shop_port behind nginx :$nginx_port (logs $DIR/shop.jsonl, $DIR/nginx/logs)"
    GATE_K6_ARGS=(-e EVENT_ID="$GATE_EVENT" -e FANS="$GATE_FANS" -e RATE_PER_MINUTE="$GATE_RATE"
        --log-output="file=$DIR/k6-console.log")
    local knob
    for knob in ARRIVAL_SECONDS VUS THINK_S AFTER_MS; do
        [[ -n ${!knob:-} ]] && GATE_K6_ARGS+=(-e "$knob=${!knob}")
    done
    return 0
}

# gate_check: exit status of k6/gate_check.py (its report on stdout and in DIR/gate-check.txt).
gate_check() {
    local other
    other=$(grep -v 'gate-pass ' "$DIR/k6-console.log" 2>/dev/null | head -n 20 || true)
    [[ -z $other ]] || printf 'k6 log (first lines other than passes; all in %s):\n%s\n' "$DIR/k6-console.log" "$other"
    python3 k6/gate_check.py --shop-log "$DIR/shop.jsonl" --passes "$DIR/k6-console.log" \
        --event "$GATE_EVENT" --rate "$GATE_RATE" --max-active "$GATE_MAX_ACTIVE" | tee "$DIR/gate-check.txt"
}
