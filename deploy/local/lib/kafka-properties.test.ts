import { describe, expect, it } from 'vitest';
import { brokerProperties, scramClientProperties, scramFormatArgs } from './kafka-properties.js';

const listeners = [
  { name: 'INTERNAL', bind: ':29092', advertise: 'kafka:29092' },
  { name: 'EXTERNAL', bind: ':9092', advertise: '127.0.0.1:9092' },
];
const controller = { bind: ':9093', voter: 'kafka:9093' };

describe('brokerProperties', () => {
  it('secure: every listener SASL_SSL, the first carries the broker, the authorizer denies what no ACL grants', () => {
    const props = brokerProperties({
      listeners,
      controller,
      dataDir: '/data',
      security: { keystore: '/k.pem', truststore: '/ca.crt', brokerPassword: 'pw', superUsers: ['kccr-admin', 'kccr-broker'] },
    });
    const line = (key: string) => props.split('\n').find((l) => l.startsWith(`${key}=`));
    expect(line('listener.security.protocol.map')).toBe('listener.security.protocol.map=CONTROLLER:SASL_SSL,INTERNAL:SASL_SSL,EXTERNAL:SASL_SSL');
    expect(props).not.toContain('PLAINTEXT');
    expect(line('inter.broker.listener.name')).toBe('inter.broker.listener.name=INTERNAL');
    expect(line('listener.name.internal.scram-sha-512.sasl.jaas.config')).toContain('username="kccr-broker" password="pw"');
    // The other listener authenticates clients only: no broker credentials there.
    expect(line('listener.name.external.scram-sha-512.sasl.jaas.config')).not.toContain('password');
    expect(line('allow.everyone.if.no.acl.found')).toBe('allow.everyone.if.no.acl.found=false');
    expect(line('super.users')).toBe('super.users=User:kccr-admin;User:kccr-broker');
    expect(line('controller.quorum.voters')).toBe('controller.quorum.voters=1@kafka:9093');
  });

  it('plain: PLAINTEXT everywhere, no authorizer', () => {
    const props = brokerProperties({ listeners, controller, dataDir: '/data' });
    expect(props).toContain('listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT');
    expect(props).not.toContain('authorizer');
  });

  it('needs a client listener', () => {
    expect(() => brokerProperties({ listeners: [], controller, dataDir: '/d' })).toThrow(/at least one client listener/);
  });
});

describe('SCRAM helpers', () => {
  it('formats each user with its own password, and writes client settings under a prefix', () => {
    expect(scramFormatArgs(['a', 'b'], (u) => `${u}-pw`)).toEqual([
      '--add-scram',
      'SCRAM-SHA-512=[name=a,password=a-pw]',
      '--add-scram',
      'SCRAM-SHA-512=[name=b,password=b-pw]',
    ]);
    const props = scramClientProperties('p.', 'u', 'pw', '/ca.crt');
    expect(
      props
        .split('\n')
        .filter(Boolean)
        .every((l) => l.startsWith('p.')),
    ).toBe(true);
    expect(props).toContain('p.security.protocol=SASL_SSL');
  });
});
