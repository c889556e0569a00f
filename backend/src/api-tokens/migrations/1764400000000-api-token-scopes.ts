import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Tokens carry scopes. Tokens made before scopes existed keep what they could do (every scope); what no token may do
 * any more (admins, passwords, emails, roles, tokens) is refused by the rules, not by their scopes.
 */
export class ApiTokenScopes1764400000000 implements MigrationInterface {
  name = 'ApiTokenScopes1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('api_tokens', new TableColumn({ name: 'scopes', type: 'varchar', length: '200', isNullable: false, default: "'read,account,users:manage,vehicles:manage,connections:manage,recordings:manage,server:maintenance'" }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('api_tokens', 'scopes');
  }
}
