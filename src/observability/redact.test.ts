import { redactUrls, safeUrl, urlHasCredentials } from "./redact.js";

test("safeUrl drops credentials, query and fragment", () => {
  expect(safeUrl("https://user:secret@sigma.example/api/vps?token=abc#x")).toBe("https://sigma.example/api/vps");
  expect(safeUrl("http://xboard.airport-prod/api/v1/server/UniProxy/user?node_id=1&node_type=V2ray&token=s3cret")).toBe(
    "http://xboard.airport-prod/api/v1/server/UniProxy/user",
  );
  expect(safeUrl("not a url?token=abc")).toBe("not a url");
});

test("urlHasCredentials: a user or a password before the host, nothing else", () => {
  expect(urlHasCredentials("https://user:pass@prom.example/")).toBe(true);
  expect(urlHasCredentials("https://user@prom.example/")).toBe(true);
  expect(urlHasCredentials("https://:pass@prom.example/")).toBe(true);
  expect(urlHasCredentials("http://prom.example:9090/")).toBe(false);
  expect(urlHasCredentials("http://prom.example/path@x?q=a@b")).toBe(false);
  expect(urlHasCredentials("http://us er:p@[bad")).toBe(true); // unparseable: judged by its shape
});

test("redactUrls makes every URL in a text safe and leaves the rest", () => {
  expect(redactUrls("Request cannot be constructed from a URL that includes credentials: https://admin:hunter2@prom.example/api/v1/query")).toBe(
    "Request cannot be constructed from a URL that includes credentials: https://prom.example/api/v1/query",
  );
  expect(redactUrls('GET "http://a.example/x?token=s3cret" and http://b.example/ failed')).toBe('GET "http://a.example/x" and http://b.example/ failed');
  expect(redactUrls("connect ECONNREFUSED 127.0.0.1:9090")).toBe("connect ECONNREFUSED 127.0.0.1:9090");
});
