/**
 * A single-node KRaft broker's server.properties, plain or secure: one writer for the local stack (kafka.ts) and for
 * the secure Docker Compose set-up (deploy/docker/secure), so that both run Kafka with the same security.
 */
export interface BrokerListener {
  /** The listener name (upper case), e.g. CLIENT. */
  readonly name: string;
  /** host:port it binds, e.g. 127.0.0.1:9092 or :29092 (every interface). */
  readonly bind: string;
  /** host:port it advertises to clients. */
  readonly advertise: string;
}

export interface BrokerSecurity {
  /** The broker's key and certificate in one PEM file (Kafka's PEM keystore). */
  readonly keystore: string;
  /** The CA clients' and the broker's certificates chain to (PEM). */
  readonly truststore: string;
  /** The password of the broker's own user, kccr-broker. */
  readonly brokerPassword: string;
  /** The users every ACL check lets pass (kafka-acls.ts SUPER_USERS). */
  readonly superUsers: readonly string[];
}

export interface BrokerOptions {
  /** Client listeners; the first carries inter-broker traffic. */
  readonly listeners: readonly BrokerListener[];
  /** The KRaft controller listener: what it binds, and the host:port the quorum voter is reached at. */
  readonly controller: { readonly bind: string; readonly voter: string };
  readonly dataDir: string;
  /** Absent: every listener is PLAINTEXT. */
  readonly security?: BrokerSecurity;
}

export const BROKER_USER = 'kccr-broker';

/**
 * Secure: every listener speaks SASL over TLS. Clients authenticate with SCRAM-SHA-512, whose credentials live in the
 * metadata log (formatted into the storage). The controller listener takes PLAIN with one user, the broker itself,
 * listed here: KRaft cannot offer SCRAM there, because the controller serves the very metadata log that SCRAM
 * credentials are read from, so the broker's first connection to its controller could not be checked. PLAIN's
 * password travels inside TLS, and no anonymous principal exists anywhere: every connection has authenticated as
 * someone. Only the super users (kccr-admin and the broker) pass every check; everyone else has what kafka-acls.ts grants.
 */
function securityLines(opts: BrokerOptions, s: BrokerSecurity): string[] {
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required';
  const names = opts.listeners.map((l) => l.name);
  const password = s.brokerPassword;
  return [
    `listener.security.protocol.map=CONTROLLER:SASL_SSL,${names.map((n) => `${n}:SASL_SSL`).join(',')}`,
    'sasl.enabled.mechanisms=SCRAM-SHA-512',
    'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    'sasl.mechanism.controller.protocol=PLAIN',
    // The client side of the broker's own connections (inter-broker, and to the controller); the server side of SCRAM
    // reads the metadata log, of PLAIN the user_<name> entries.
    `listener.name.${names[0]!.toLowerCase()}.scram-sha-512.sasl.jaas.config=${scram} username="${BROKER_USER}" password="${password}";`,
    ...names.slice(1).map((n) => `listener.name.${n.toLowerCase()}.scram-sha-512.sasl.jaas.config=${scram};`),
    `listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${BROKER_USER}" password="${password}" user_${BROKER_USER}="${password}";`,
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${s.keystore}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${s.truststore}`,
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'allow.everyone.if.no.acl.found=false',
    `super.users=${s.superUsers.map((u) => `User:${u}`).join(';')}`,
  ];
}

export function brokerProperties(opts: BrokerOptions): string {
  if (opts.listeners.length === 0) throw new Error('a broker needs at least one client listener');
  const names = opts.listeners.map((l) => l.name);
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${opts.controller.voter}`,
    `listeners=${opts.listeners.map((l) => `${l.name}://${l.bind}`).join(',')},CONTROLLER://${opts.controller.bind}`,
    `advertised.listeners=${opts.listeners.map((l) => `${l.name}://${l.advertise}`).join(',')}`,
    'controller.listener.names=CONTROLLER',
    `inter.broker.listener.name=${names[0]}`,
    ...(opts.security
      ? securityLines(opts, opts.security)
      : [`listener.security.protocol.map=CONTROLLER:PLAINTEXT,${names.map((n) => `${n}:PLAINTEXT`).join(',')}`]),
    `log.dirs=${opts.dataDir}`,
    'num.partitions=1',
    // Topics are created by kccr with the partition count of the leader index; a typo must not create one.
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // Compaction on a small single node: look often so tests and demos see compacted topics.
    'log.cleaner.backoff.ms=5000',
    '',
  ].join('\n');
}

/** The storage tool's arguments that format the SCRAM users into a new storage (with their passwords: keep private). */
export function scramFormatArgs(users: readonly string[], password: (user: string) => string): string[] {
  return users.flatMap((u) => ['--add-scram', `SCRAM-SHA-512=[name=${u},password=${password(u)}]`]);
}

/**
 * A Kafka client's settings for SASL_SSL with SCRAM-SHA-512 as `user`, trusting `ca` (PEM), each key after `prefix`
 * (Apicurio hands `apicurio.kafka.common.*` to its clients; Kafka's tools take them bare).
 */
export function scramClientProperties(prefix: string, user: string, password: string, ca: string): string {
  return [
    `${prefix}security.protocol=SASL_SSL`,
    `${prefix}sasl.mechanism=SCRAM-SHA-512`,
    `${prefix}sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${user}" password="${password}";`,
    `${prefix}ssl.truststore.type=PEM`,
    `${prefix}ssl.truststore.location=${ca}`,
    '',
  ].join('\n');
}
