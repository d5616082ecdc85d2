#!/usr/bin/env bash
# bench/sidebyside.sh: the load-server figures of bench/README.md, from this repository alone.
#
#   bench/sidebyside.sh [-d SECONDS] [-r ROUNDS] [-c CONNECTIONS]      (run from the module root)
#
# Servers, each on CPU 0 with GOMAXPROCS=1 (worker_processes 1), wrk on CPU 1:
#   bare        bench/loadserver -mode bare                   fasthttp alone
#   nop         the middleware with a script that does nothing (local x = 1)
#   pre         the middleware with the pre_process header script
#   post        the middleware with the post_process header script
#   nginx_bare, nginx_pre, nginx_post: nginx + lua-nginx-module doing the same (skipped, and said
#               so, when nginx or its Lua module is missing and cannot be installed)
# Rounds are interleaved (every server once per round) so drift hits all alike. It prints each
# server's median requests/s and its rounds (judge a run by the spread of bare's rounds), the
# ratios, and what a script costs per request: 1/median(script) - 1/median(bare), in µs.
set -euo pipefail
D=5 R=3 C=64
while getopts d:r:c: o; do
	case $o in d) D=$OPTARG ;; r) R=$OPTARG ;; c) C=$OPTARG ;; *) exit 2 ;; esac
done
have() { command -v "$1" >/dev/null 2>&1; }
if [ "$(id -u)" = 0 ] && { ! have wrk || ! have nginx || [ ! -e /usr/lib/nginx/modules/ngx_http_lua_module.so ]; }; then
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx libnginx-mod-http-lua) >/dev/null 2>&1 || true
fi
have wrk || { echo "sidebyside: needs wrk" >&2; exit 2; }
NGINX=0
if have nginx && [ -e /usr/lib/nginx/modules/ngx_http_lua_module.so ]; then NGINX=1; fi
ON0="" ON1=""
if have taskset && [ "$(nproc)" -ge 2 ]; then ON0="taskset -c 0" ON1="taskset -c 1"; fi

TMP=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"' EXIT
go build -o "$TMP/loadserver" ./bench/loadserver

script() { # dir, file name, source
	mkdir -p "$TMP/$1"
	printf '%s\n' "$3" >"$TMP/$1/$2"
}
script nop bench.item.get.pre_process.lua 'local x = 1'
script pre bench.item.get.pre_process.lua 'local id = event.request.headers["x-request-id"]
if id == nil then event.request.headers["x-request-id"] = "generated" end'
script post bench.item.get.post_process.lua 'event.response.headers["x-scripted"] = "1"'

declare -A URL
NAMES=()
launch() { # name, port, command...
	local name=$1 port=$2
	shift 2
	GOMAXPROCS=1 $ON0 "$@" >"$TMP/$name.log" 2>&1 &
	PIDS+=($!)
	local i
	for i in $(seq 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$port/"; then return 0; fi
		sleep 0.05
	done
	echo "sidebyside: $name did not start: $(tail -3 "$TMP/$name.log")" >&2
	exit 1
}
serve() { # name, port, path, command...
	local name=$1 port=$2 path=$3
	shift 3
	launch "$name" "$port" "$@"
	URL[$name]="http://127.0.0.1:$port$path"
	NAMES+=("$name")
}
serve bare 18291 /api/v2/bench/item "$TMP/loadserver" -listen 127.0.0.1:18291 -mode bare
for s in nop pre post; do
	port=$((18292 + ${#NAMES[@]}))
	serve "$s" "$port" /api/v2/bench/item "$TMP/loadserver" -listen "127.0.0.1:$port" -mode script -scripts "$TMP/$s" -prefix /api/v2
done
if [ "$NGINX" = 1 ]; then
	mkdir -p "$TMP/ngx/logs" "$TMP/www"
	printf '{"ok":true}' >"$TMP/www/ok.json"
	cat >"$TMP/ngx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/logs/error.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 4096; }
http {
  access_log off;
  lua_code_cache on;
  default_type application/json;
  client_body_temp_path $TMP/ngx/body;
  server {
    listen 127.0.0.1:18290 backlog=4096;
    location = / { return 204; }
    location = /bare { alias $TMP/www/ok.json; }
    location = /pre {
      access_by_lua_block {
        if ngx.var.http_x_request_id == nil then ngx.req.set_header("X-Request-Id", "generated") end
      }
      alias $TMP/www/ok.json;
    }
    location = /post {
      header_filter_by_lua_block { ngx.header["X-Scripted"] = "1" }
      alias $TMP/www/ok.json;
    }
  }
}
NGX
	launch nginx 18290 nginx -p "$TMP/ngx" -c "$TMP/ngx/nginx.conf"
	for s in bare pre post; do URL[nginx_$s]=http://127.0.0.1:18290/$s; NAMES+=("nginx_$s"); done
else
	echo "sidebyside: nginx with lua-nginx-module is not installed: its rows are left out" >&2
fi

# The scripts must do what they say before their speed means anything.
curl -si "${URL[post]}" | grep -qi '^x-scripted: 1' || { echo "sidebyside: the post_process script did not run" >&2; exit 1; }

declare -A RUNS
for _ in $(seq "$R"); do
	for n in "${NAMES[@]}"; do
		rps=$($ON1 wrk -t1 -c"$C" -d"${D}s" "${URL[$n]}" | awk '/Requests\/sec/ {print $2}')
		RUNS[$n]="${RUNS[$n]:-}$rps "
	done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
declare -A M
for n in "${NAMES[@]}"; do
	M[$n]=$(echo "${RUNS[$n]}" | median)
	printf '%-12s median %9.0f req/s   rounds: %s\n' "$n" "${M[$n]}" "${RUNS[$n]}"
done
ratio() { [ -n "${M[$1]:-}" ] && [ -n "${M[$2]:-}" ] && awk -v a="${M[$1]}" -v b="${M[$2]}" -v l="$1/$2" 'BEGIN {printf "ratio %-22s %.3f\n", l, a / b}' || true; }
cost() { awk -v s="${M[$1]}" -v b="${M[bare]}" -v l="$1" 'BEGIN {printf "cost  %-22s %.2f us a request\n", l, (1e6 / s) - (1e6 / b)}'; }
ratio pre bare
ratio post bare
ratio nop bare
ratio pre nginx_pre
ratio nginx_pre nginx_bare
ratio nginx_post nginx_bare
cost nop
cost pre
cost post
