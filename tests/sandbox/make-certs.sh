#!/usr/bin/env bash
# make-certs.sh DIR -- create a throw-away test PKI for the oauthmail sandbox.
#
#   DIR/ca.pem, DIR/ca.key          "oauthmail test CA" (X509v3, CA:TRUE, keyCertSign)
#   DIR/server.pem, DIR/server.key  leaf signed by that CA: CN=localhost,
#                                   SAN DNS:localhost, IP:127.0.0.1, IP:::1,
#                                   CA:FALSE, digitalSignature, EKU serverAuth, 10 years
#   DIR/server-chain.pem            server.pem followed by ca.pem
#   DIR/other-ca.pem, other-ca.key  an unrelated CA (for "unknown CA" tests)
#
# Keys are EC P-256 in PKCS#8 PEM. All files are mode 0644 on purpose (test keys,
# may be read by an unprivileged Dovecot). Idempotent: does nothing if
# DIR/server.pem already exists.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
if [ -e "$dir/server.pem" ]; then
  exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.mkcerts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

genkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

cat > "$tmp/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = oauthmail test CA
O = oauthmail tests
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF

cat > "$tmp/other-ca.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = oauthmail unrelated test CA
O = somebody else
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF

cat > "$tmp/leaf.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
O = oauthmail tests
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF

# test CA
genkey "$tmp/ca.key"
openssl req -new -x509 -config "$tmp/ca.cnf" -extensions v3_ca -key "$tmp/ca.key" \
  -days 3660 -sha256 -set_serial "0x$(openssl rand -hex 8)" -out "$tmp/ca.pem"

# unrelated CA
genkey "$tmp/other-ca.key"
openssl req -new -x509 -config "$tmp/other-ca.cnf" -extensions v3_ca -key "$tmp/other-ca.key" \
  -days 3660 -sha256 -set_serial "0x$(openssl rand -hex 8)" -out "$tmp/other-ca.pem"

# leaf
genkey "$tmp/server.key"
openssl req -new -config "$tmp/leaf.cnf" -key "$tmp/server.key" -out "$tmp/server.csr"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
  -set_serial "0x$(openssl rand -hex 8)" -days 3650 -sha256 \
  -extfile "$tmp/leaf.cnf" -extensions v3_leaf -out "$tmp/server.pem" 2>/dev/null

openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" >/dev/null
cat "$tmp/server.pem" "$tmp/ca.pem" > "$tmp/server-chain.pem"

chmod 0644 "$tmp"/*.pem "$tmp"/*.key
# server.pem last: its presence marks a complete directory
for f in ca.key ca.pem other-ca.key other-ca.pem server.key server-chain.pem server.pem; do
  mv -f "$tmp/$f" "$dir/$f"
done
