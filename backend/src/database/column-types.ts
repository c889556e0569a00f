import type { QueryRunner, TableColumnOptions } from 'typeorm';

/** Column helpers that resolve to each driver's own types, so one migration serves SQLite and PostgreSQL. */
export function columns(runner: QueryRunner) {
  const driver = runner.connection.driver;
  const date = driver.normalizeType({ type: Date });
  const bool = driver.normalizeType({ type: Boolean });
  return {
    id: (name = 'id'): TableColumnOptions => ({ name, type: 'varchar', length: '36', isPrimary: true }),
    ref: (name: string, nullable = false): TableColumnOptions => ({ name, type: 'varchar', length: '36', isNullable: nullable }),
    text: (name: string, length: number, nullable = false): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable: nullable }),
    int: (name: string, nullable = false, dflt?: number): TableColumnOptions => ({ name, type: 'integer', isNullable: nullable, default: dflt }),
    /** Counters that may pass 2^31 (bytes relayed). */
    big: (name: string): TableColumnOptions => ({ name, type: driver.options.type === 'postgres' ? 'double precision' : 'integer', default: 0 }),
    bool: (name: string, dflt = false): TableColumnOptions => ({ name, type: bool, default: driver.options.type === 'postgres' ? String(dflt) : dflt ? 1 : 0 }),
    date: (name: string, nullable = false): TableColumnOptions => ({ name, type: date, isNullable: nullable }),
    created: (name = 'createdAt'): TableColumnOptions => ({ name, type: date, default: driver.options.type === 'postgres' ? 'now()' : "datetime('now')" }),
  };
}
