#!/usr/bin/env bash
# Generates the TLS material of a DICE cluster with keytool: one self-signed key pair that every node holds
# (keystore.p12: key + certificate) and trusts (truststore.p12: the certificate), so every connection between
# nodes is mutually authenticated — Artery remoting (tls-tcp) and the collectives' gRPC alike. The certificate
# names the cluster (subjectAltName DNS:<cluster name>, plus localhost and 127.0.0.1); gRPC clients check peers
# against that name, Artery checks only that the peer's certificate is trusted.
#   usage: ops/scripts/gen-tls.sh OUT_DIR [CLUSTER_NAME]
#   DICE_TLS_PASSWORD: the stores' password (default: a random one); written to OUT_DIR/password either way.
#   DICE_TLS_DAYS: validity in days (default 365).
# Prints the dice.tls settings for a node's --config file.
set -euo pipefail
out="${1:?usage: gen-tls.sh OUT_DIR [CLUSTER_NAME]}"
name="${2:-dice-cluster}"
days="${DICE_TLS_DAYS:-365}"
password="${DICE_TLS_PASSWORD:-$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')}"
keytool="${JAVA_HOME:+$JAVA_HOME/bin/}keytool"
command -v "$keytool" >/dev/null || { echo "gen-tls: keytool not found (install a JDK or set JAVA_HOME)" >&2; exit 1; }

mkdir -p "$out"
chmod 700 "$out"
out="$(cd "$out" && pwd)"
rm -f "$out/keystore.p12" "$out/truststore.p12" "$out/node.crt" "$out/password"
# PKCS12 keeps one password for the store and the key.
"$keytool" -genkeypair -alias dice -keyalg RSA -keysize 2048 -validity "$days" -dname "CN=$name" \
  -ext "SAN=DNS:$name,DNS:localhost,IP:127.0.0.1" -storetype PKCS12 -keystore "$out/keystore.p12" \
  -storepass "$password" -keypass "$password" 2>/dev/null
"$keytool" -exportcert -alias dice -rfc -keystore "$out/keystore.p12" -storepass "$password" -file "$out/node.crt" \
  2>/dev/null
"$keytool" -importcert -noprompt -alias dice -file "$out/node.crt" -storetype PKCS12 \
  -keystore "$out/truststore.p12" -storepass "$password" >/dev/null 2>&1
(umask 077 && printf '%s' "$password" >"$out/password")
chmod 600 "$out/keystore.p12" "$out/truststore.p12"

cat <<CONF
# TLS material in $out (password in $out/password; pass it as DICE_TLS_PASSWORD rather than writing it here)
dice.tls {
  enabled = on
  keystore = "$out/keystore.p12"
  truststore = "$out/truststore.p12"
  cluster-name = "$name"
}
CONF
