import crypto from 'node:crypto';

export const sha256 = (...parts: string[]): string => {
  const h = crypto.createHash('sha256');
  // A separator that cannot occur in validated text keeps ("ab","c") and ("a","bc") apart.
  parts.forEach((p, i) => h.update(i === 0 ? p : `\u0000${p}`));
  return h.digest('hex');
};
