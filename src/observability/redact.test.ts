import { safeUrl } from "./redact.js";

test("safeUrl drops credentials, query and fragment", () => {
  expect(safeUrl("https://user:secret@sigma.example/api/vps?token=abc#x")).toBe("https://sigma.example/api/vps");
  expect(safeUrl("http://xboard.airport-prod/api/v1/server/UniProxy/user?node_id=1&node_type=V2ray&token=s3cret")).toBe(
    "http://xboard.airport-prod/api/v1/server/UniProxy/user",
  );
  expect(safeUrl("not a url?token=abc")).toBe("not a url");
});
