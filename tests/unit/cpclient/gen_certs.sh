#!/bin/sh
# Test certificates for the config client's TLS tests: a CA, a server certificate for
# 127.0.0.1/localhost and a client certificate, EC P-256, valid for two days, in $1.
set -e
cd "$1"
cat > ca.cnf <<X
[req]
distinguished_name=dn
[dn]
[ext]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
X
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > srv.ext
printf 'extendedKeyUsage=clientAuth\n' > cli.ext
openssl req -x509 -config ca.cnf -extensions ext -newkey ec \
  -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj /CN=edge-test-ca 2>/dev/null
for n in srv cli; do
  openssl req -config ca.cnf -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null
  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 2 \
    -extfile $n.ext 2>/dev/null
done
