import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['services/**/*.test.ts', 'deploy/**/*.test.ts', 'test/support/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          // After the run: what it made (indices, topics) and the ledgers of deleted follower indices go (test/support/cleanup.ts).
          globalSetup: ['test/support/cleanup.ts'],
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // The stack is shared; files run one after another (each in a fresh process), so that timings stay honest
          // on 2 cores, and after the unit tests (groupOrder), never beside them.
          pool: 'forks',
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // Kills and restarts parts of the plain stack: nothing else may run meanwhile. test/run.ts runs it on its
          // own after the other projects; a bare `vitest run` still runs it after them (groupOrder), never beside them.
          name: 'faults',
          // After the run: what it made (indices, topics) and the ledgers of deleted follower indices go (test/support/cleanup.ts).
          globalSetup: ['test/support/cleanup.ts'],
          include: ['test/faults/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 360_000,
          pool: 'forks',
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          // Kills, restarts and moves nodes of the multi-node stack (.stack-multi): run on its own (test/run.ts).
          name: 'multinode',
          // After the run: what it made (indices, topics) and the ledgers of deleted follower indices go (test/support/cleanup.ts).
          globalSetup: ['test/support/cleanup.ts'],
          include: ['test/multinode/**/*.test.ts'],
          environment: 'node',
          testTimeout: 900_000,
          hookTimeout: 360_000,
          pool: 'forks',
          maxWorkers: 1,
          sequence: { groupOrder: 3 },
        },
      },
      {
        test: {
          // One pair of engines of the compatibility matrix on the stack's clusters (test/matrix.ts swaps the clusters
          // between pairs and runs it once per pair; `npm run test:matrix`).
          name: 'matrix',
          globalSetup: ['test/support/cleanup.ts'],
          include: ['test/matrix/**/*.test.ts'],
          environment: 'node',
          testTimeout: 360_000,
          hookTimeout: 180_000,
          pool: 'forks',
          maxWorkers: 1,
          sequence: { groupOrder: 4 },
        },
      },
    ],
  },
});
