#!/bin/sh
# Makes a throw-away PKI for the TLS tests in DIR: two CAs, a server certificate for
# 127.0.0.1/localhost, and client certificates from each CA. Keys are P-256, valid two days.
#   ca.crt ca.key                   the CA the server trusts for clients (and signs the server)
#   server.crt server.key           CN=localhost, SAN IP:127.0.0.1, DNS:localhost
#   client.crt client.key           CN=client-one,O=Firebreak Test, signed by ca
#   other-ca.crt other-ca.key       a CA nobody trusts
#   other-client.crt other-client.key   CN=intruder, signed by other-ca
set -eu
dir=${1:?usage: make-pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 2 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
leaf() {  # name ca subject extensions
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "$3"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" \
    -days 2 -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca "Firebreak Test CA"
ca other-ca "Other CA"
leaf server ca "/CN=localhost" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf client ca "/O=Firebreak Test/CN=client-one" "extendedKeyUsage=clientAuth"
leaf other-client other-ca "/CN=intruder" "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
