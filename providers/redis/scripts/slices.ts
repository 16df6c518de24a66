/**
 * Lua helper for batch scripts: one redis.call with many arguments costs far less than many
 * calls, but unpack() is bounded by Lua's stack, so long argument lists go in slices.
 */
export const SLICES = `
local STEP = 1000
-- fn(i, j) for consecutive slices [i, j] of 1..n.
local function slices(n, fn)
  for i = 1, n, STEP do fn(i, math.min(i + STEP - 1, n)) end
end
`;
