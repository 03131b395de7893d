#!/usr/bin/env bash
# make-certs.sh DIR -- create a throw-away test PKI for the oauthmail sandbox.
#
#   DIR/ca.pem, DIR/ca.key          "oauthmail test CA" (X509v3, CA:TRUE, keyCertSign)
#   DIR/server.pem, DIR/server.key  leaf signed by that CA: CN=localhost,
#                                   SAN DNS:localhost, IP:127.0.0.1, IP:::1,
#                                   CA:FALSE, digitalSignature, EKU serverAuth, 10 years
#   DIR/server-chain.pem            server.pem followed by ca.pem
#   DIR/other-ca.pem, other-ca.key  an unrelated CA (for "unknown CA" tests)
# These keys are EC P-256 in PKCS#8 PEM.
#
# Client certificate credential of the sandbox client cert-app (RSA 2048, self-signed,
# CN=oauthmail cert-app, 10 years):
#   DIR/client-cert.pem             the certificate (registered at the sandbox OAuth server)
#   DIR/client-key.pem              its key, PKCS#8 ("BEGIN PRIVATE KEY")
#   DIR/client-key-rsa.pem          the same key, PKCS#1 ("BEGIN RSA PRIVATE KEY")
#   DIR/client.pfx                  key + certificate, password "pfx-password", OpenSSL 3
#                                   defaults (PBES2/PBKDF2, AES-256-CBC, SHA-256 MAC)
#   DIR/client-legacy.pfx           the same, -legacy (3DES key bag, RC2-40 certificate
#                                   bag, SHA-1 MAC), for older Windows
#   DIR/other-client-cert.pem, other-client-key.pem
#                                   an unrelated RSA key + self-signed certificate
#
# All files are mode 0644 on purpose (test keys, may be read by an unprivileged Dovecot).
# Idempotent: the server PKI is made only if DIR/server.pem is missing, the client files
# only if one of them is missing (a directory made before they existed gets them).
# Concurrent runs on one DIR are serialised with flock(1) when it is available.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
client_files=(client-cert.pem client-key.pem client-key-rsa.pem client.pfx client-legacy.pfx
  other-client-cert.pem other-client-key.pem)
complete() {
  [ -e "$dir/server.pem" ] || return 1
  local f
  for f in "${client_files[@]}"; do [ -e "$dir/$f" ] || return 1; done
}
if complete; then
  exit 0
fi
mkdir -p "$dir"
if command -v flock >/dev/null 2>&1; then
  exec 9>>"$dir/.make-certs.lock"
  flock 9
  if complete; then
    exit 0
  fi
fi
tmp=$(mktemp -d "$dir/.mkcerts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------- server PKI
# (the block is not indented: its here-documents end at column 0)
if [ ! -e "$dir/server.pem" ]; then

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

# Wine's crypt32 (the Windows tests verify the chain through it) rejects an ECDSA signature
# whose r or s is shorter than 32 bytes (TRUST_E_CERT_SIGNATURE), which 1 signature in 128
# is: certificates are signed again (a new serial, a new random signature) until both are full.
full_signature() {
  local off
  off=$(openssl asn1parse -in "$1" | awk '/BIT STRING/ {o = $1} END {sub(/:.*/, "", o); print o}')
  openssl asn1parse -in "$1" -strparse "$off" |
    awk '/INTEGER/ {n = split($0, a, ":"); if (length(a[n]) != 64) bad = 1} END {exit bad}'
}

# test CA
genkey "$tmp/ca.key"
for attempt in $(seq 1 50); do
  openssl req -new -x509 -config "$tmp/ca.cnf" -extensions v3_ca -key "$tmp/ca.key" \
    -days 3660 -sha256 -set_serial "0x$(openssl rand -hex 8)" -out "$tmp/ca.pem"
  full_signature "$tmp/ca.pem" && break
done

# unrelated CA
genkey "$tmp/other-ca.key"
openssl req -new -x509 -config "$tmp/other-ca.cnf" -extensions v3_ca -key "$tmp/other-ca.key" \
  -days 3660 -sha256 -set_serial "0x$(openssl rand -hex 8)" -out "$tmp/other-ca.pem"

# leaf
genkey "$tmp/server.key"
openssl req -new -config "$tmp/leaf.cnf" -key "$tmp/server.key" -out "$tmp/server.csr"
for attempt in $(seq 1 50); do
  openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 3650 -sha256 \
    -extfile "$tmp/leaf.cnf" -extensions v3_leaf -out "$tmp/server.pem" 2>/dev/null
  full_signature "$tmp/server.pem" && break
done
full_signature "$tmp/ca.pem" && full_signature "$tmp/server.pem" || {
  echo "make-certs.sh: no full-length ECDSA signature in 50 attempts" >&2
  exit 1
}

openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" >/dev/null
cat "$tmp/server.pem" "$tmp/ca.pem" > "$tmp/server-chain.pem"

chmod 0644 "$tmp"/*.pem "$tmp"/*.key
# server.pem last: its presence marks a complete server PKI
for f in ca.key ca.pem other-ca.key other-ca.pem server.key server-chain.pem server.pem; do
  mv -f "$tmp/$f" "$dir/$f"
done
fi

# ---------------------------------------------------------------- client certificates
missing=0
for f in "${client_files[@]}"; do [ -e "$dir/$f" ] || missing=1; done
if [ "$missing" = 1 ]; then
  # self-signed RSA 2048 certificate for TLS-less client authentication (a JWT signature)
  selfsigned() { # KEY CERT CN
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1" -out "$2" -days 3650 -sha256 \
      -subj "/CN=$3/O=oauthmail tests" -set_serial "0x$(openssl rand -hex 8)" \
      -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
      -addext "extendedKeyUsage=clientAuth" -addext "subjectKeyIdentifier=hash" 2>/dev/null
  }
  selfsigned "$tmp/client-key.pem" "$tmp/client-cert.pem" "oauthmail cert-app"
  selfsigned "$tmp/other-client-key.pem" "$tmp/other-client-cert.pem" "oauthmail unrelated client"
  grep -q 'BEGIN PRIVATE KEY' "$tmp/client-key.pem"
  openssl pkey -in "$tmp/client-key.pem" -traditional -out "$tmp/client-key-rsa.pem"
  grep -q 'BEGIN RSA PRIVATE KEY' "$tmp/client-key-rsa.pem"
  openssl pkcs12 -export -inkey "$tmp/client-key.pem" -in "$tmp/client-cert.pem" -name "oauthmail cert-app" \
    -passout pass:pfx-password -out "$tmp/client.pfx"
  if ! openssl pkcs12 -export -legacy -inkey "$tmp/client-key.pem" -in "$tmp/client-cert.pem" \
      -name "oauthmail cert-app" -passout pass:pfx-password -out "$tmp/client-legacy.pfx" 2>/dev/null; then
    # no legacy provider (RC2): 3DES for both bags, SHA-1 MAC
    openssl pkcs12 -export -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 \
      -inkey "$tmp/client-key.pem" -in "$tmp/client-cert.pem" -name "oauthmail cert-app" \
      -passout pass:pfx-password -out "$tmp/client-legacy.pfx"
  fi
  chmod 0644 "$tmp"/client* "$tmp"/other-client*
  # client-cert.pem last (the server reads it)
  for f in client-key.pem client-key-rsa.pem client.pfx client-legacy.pfx other-client-key.pem \
      other-client-cert.pem client-cert.pem; do
    mv -f "$tmp/$f" "$dir/$f"
  done
fi
