#!/bin/sh
# The secure Compose set-up's Kafka (docker-compose.secure.yml): formats the storage with every SCRAM user on the
# first start, then runs the broker, both from what secure-init wrote (deploy/docker/secure/setup.ts).
#   KCCR_KAFKA_SECRETS  the folder with server.properties and format.args (/run/kccr)
#   KAFKA_HOME          the Kafka installation (/opt/kafka in the apache/kafka image); its libs/ are the classpath
#   KAFKA_HEAP_OPTS     the broker's heap (-Xmx512m -Xms512m)
set -eu
dir="${KCCR_KAFKA_SECRETS:-/run/kccr}"
home="${KAFKA_HOME:-/opt/kafka}"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
data=$(sed -n 's/^log\.dirs=//p' "$dir/server.properties")
if [ ! -f "$data/meta.properties" ]; then
  # The launcher reads the arguments (passwords among them) from the file: none is on a command line.
  "$java" -Xmx256m -cp "$home/libs/*" "@$dir/format.args"
fi
if [ -x "$home/bin/kafka-server-start.sh" ]; then
  exec "$home/bin/kafka-server-start.sh" "$dir/server.properties"
fi
exec "$java" ${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m} -cp "$home/libs/*" kafka.Kafka "$dir/server.properties"
