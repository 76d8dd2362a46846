#!/usr/bin/env bash
# A throwaway certificate authority and one server certificate for the local TLS
# listeners (PostgreSQL, Redis, RabbitMQ), for tests and for trying TLS on one machine.
#
#   deploy/local/cluster/ca.sh DIR [NAME...]
#
# Writes, if DIR/ca.pem does not exist yet (an existing CA is kept, so clients that
# already trust it keep working):
#   DIR/ca.pem, DIR/ca.key          the CA (RSA 2048, 30 days)
#   DIR/server.pem, DIR/server.key  a server certificate signed by it, for the names the
#                                   clients verify: DNS localhost, IP 127.0.0.1, and
#                                   each NAME as a DNS name (compose's service names)
# Keys are mode 0644 so that the postgres, redis and rabbitmq OS users can read them;
# they protect nothing but loopback test traffic. Never use them for anything else.
set -euo pipefail

dir=${1:?usage: ca.sh DIR [NAME...]}
shift
san="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do san+=",DNS:$name"; done
mkdir -p "$dir"
cd "$dir"
[[ -s ca.pem && -s server.pem ]] && exit 0

openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
    -subj "/CN=Anteroom throwaway CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
    -keyout server.key -out server.csr 2>/dev/null
printf '%s\n' "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=$san" >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -sha256 -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 0644 ca.key server.key
