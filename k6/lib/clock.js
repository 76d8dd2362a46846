// Time of a stats reading (no imports: any script can use it, whatever its config).

/**
 * When a stats reading was taken, Unix ms: the server's `queue.as_of` (the Redis clock at
 * the read), else `fallbackMs`. An outflow computed over two readings must divide by this,
 * not by the reply times: on a saturated box a reply can wait seconds after the read.
 */
export function readingTime(stats, fallbackMs) {
  const t = stats && stats.queue && Date.parse(stats.queue.as_of);
  return Number.isFinite(t) ? t : fallbackMs;
}
