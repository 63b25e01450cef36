/** A one-line progress bar on a terminal; a line every 10% otherwise (CI logs). */
export function progressPrinter(label: string): (done: number, total: number, detail?: string) => void {
  let lastDecile = -1;
  return (done, total, detail = '') => {
    const ratio = total === 0 ? 1 : done / total;
    if (process.stdout.isTTY) {
      const width = 30;
      const filled = Math.round(ratio * width);
      const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${detail}`;
      process.stdout.write(
        `\r${line.slice(0, (process.stdout.columns || 100) - 1).padEnd(Math.min(process.stdout.columns || 100, 100) - 1)}`,
      );
      if (done >= total) process.stdout.write('\n');
      return;
    }
    const decile = Math.floor(ratio * 10);
    if (decile !== lastDecile) {
      lastDecile = decile;
      console.log(`${label} ${done}/${total}`);
    }
  };
}
