// Seat-picking helpers for the buyer journey (k6/lib/buyer.js): random integers and
// seats picked together, the way a fan picks them.

export function randInt(lo, hi) {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * Up to `quantity` seats out of `seats`, the way a fan picks them: start at a random
 * seat and prefer its neighbours in the same row, then the rest of the row, then any.
 */
export function pickTogether(seats, quantity) {
  if (seats.length <= quantity) return seats.map((s) => s.id);
  const start = seats[Math.floor(Math.random() * seats.length)];
  const byDistance = (s) =>
    (s.section === start.section ? 0 : 1e6) +
    (s.row === start.row ? 0 : 1e3 * Math.abs(s.row - start.row)) +
    Math.abs(s.number - start.number);
  return shuffle(seats.slice())
    .sort((a, b) => byDistance(a) - byDistance(b))
    .slice(0, quantity)
    .map((s) => s.id);
}
