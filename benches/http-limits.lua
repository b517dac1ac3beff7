-- wrk: each request carries the next token of TOKENS_FILE, so no user passes its budget.
local tokens = {}
local next_token = 1
local path = os.getenv("BENCH_PATH")
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")

function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
  next_token = math.random(#tokens)
end

function request()
  next_token = next_token % #tokens + 1
  local headers = { ["Authorization"] = "Bearer " .. tokens[next_token] }
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, path, headers, body)
end
