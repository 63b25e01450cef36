import fs from 'node:fs';
import { TEMPLATE_DIR } from './test-env';

export default function globalTeardown(): void {
  fs.rmSync(TEMPLATE_DIR, { recursive: true, force: true });
}
