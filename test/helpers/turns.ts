/** How many turns of the event loop pass while `work` runs: a test's measure that work gives the loop back. */
export async function turnsWhile<T>(work: () => Promise<T>): Promise<{ turns: number; value: T }> {
  let done = false;
  let turns = 0;
  const tick = () => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const value = await work();
    return { turns, value };
  } finally {
    done = true;
  }
}
