import type { Request } from 'express';

/**
 * Whether the request asks for a minimal answer: `Prefer: return=minimal` (RFC 7240, section
 * 4.2). The header is a comma-separated list of preferences, each `name[=value]` with optional
 * `;parameters`; names are case-insensitive, values may be quoted. Several `Prefer` headers
 * arrive joined by commas (Node), so the same parse covers them.
 */
export function prefersMinimalReturn(req: Request): boolean {
  const header = req.get('prefer');
  if (!header) return false;
  return header.split(',').some((preference) => {
    const [name, value] = (preference.split(';')[0] ?? '').split('=').map((part) => part.trim());
    return name?.toLowerCase() === 'return' && value?.replace(/^"(.*)"$/, '$1') === 'minimal';
  });
}
