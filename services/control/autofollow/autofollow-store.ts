/**
 * Auto-follow rules, kept in the compacted topic kccr._autofollow keyed `<follower cluster>/<leader cluster>/<name>`,
 * so that they survive a restart of the control service (which loads them before it serves).
 */
import type { KafkaAdapter } from '../../shared/adapters/kafka.js';
import { KccrError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { CompactedTable, CONTROL_TOPICS } from '../../shared/table.js';
import { parseAutofollowRule, ruleKey } from './autofollow-rules.js';
import type { AutofollowRule } from './autofollow-rules.js';

export const AUTOFOLLOW_TOPIC = CONTROL_TOPICS.autofollow;

export class AutofollowStore {
  readonly table: CompactedTable<AutofollowRule>;

  constructor(kafka: KafkaAdapter, logger?: Logger) {
    this.table = new CompactedTable<AutofollowRule>(kafka, AUTOFOLLOW_TOPIC, logger, parseAutofollowRule);
  }

  open(): Promise<void> {
    return this.table.open();
  }

  close(): Promise<void> {
    return this.table.close();
  }

  get(key: string): AutofollowRule | undefined {
    return this.table.get(key);
  }

  list(): AutofollowRule[] {
    return this.table
      .entries()
      .map(([, r]) => r)
      .sort((a, b) => a.followerCluster.localeCompare(b.followerCluster) || a.leaderCluster.localeCompare(b.leaderCluster) || a.name.localeCompare(b.name));
  }

  /** Writes the rule and waits until this reader has it, so that the engine's next run and a following GET see it. */
  async put(rule: AutofollowRule): Promise<void> {
    await this.table.putAndSee(ruleKey(rule), rule);
  }

  /** Removes the rule and waits until this reader has seen the removal. */
  async remove(key: string, timeoutMs = 10_000): Promise<void> {
    const gone = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.table.off('change', onChange);
        reject(new KccrError('KAFKA_UNAVAILABLE', `the removal of auto-follow rule ${key} was not read back from ${AUTOFOLLOW_TOPIC} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onChange = (k: string, value: AutofollowRule | undefined) => {
        if (k !== key || value !== undefined) return;
        clearTimeout(timer);
        this.table.off('change', onChange);
        resolve();
      };
      this.table.on('change', onChange);
    });
    gone.catch(() => undefined); // awaited below; this only keeps a failed send from leaving it unhandled
    await this.table.delete(key);
    await gone;
  }
}
