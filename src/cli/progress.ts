/**
 * A one-line progress bar on a terminal; a line every 10% otherwise (CI logs). Both show the rate since the
 * first call and the time left at that rate.
 */
export function progressPrinter(
  label: string,
  unit = '',
): (done: number, total: number, detail?: string) => void {
  let lastDecile = -1;
  let started: number | undefined;
  return (done, total, detail = '') => {
    started ??= Date.now();
    const ratio = total === 0 ? 1 : done / total;
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const pace =
      rate > 0
        ? ` ${rate.toFixed(rate < 10 ? 1 : 0)}${unit ? ` ${unit}` : ''}/s, ETA ${formatSeconds((total - done) / rate)}`
        : '';
    if (process.stdout.isTTY) {
      const width = 30;
      const filled = Math.round(ratio * width);
      const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}${pace} ${detail}`;
      process.stdout.write(
        `\r${line.slice(0, (process.stdout.columns || 100) - 1).padEnd(Math.min(process.stdout.columns || 100, 100) - 1)}`,
      );
      if (done >= total) process.stdout.write('\n');
      return;
    }
    const decile = Math.floor(ratio * 10);
    if (decile !== lastDecile) {
      lastDecile = decile;
      console.log(`${label} ${done}/${total}${pace}`);
    }
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
