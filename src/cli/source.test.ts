import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { cleartextTokenProblem, isLoopbackHost, readSource } from "./source.js";

describe("the sync token never travels in cleartext", () => {
  test.each(["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "[::1]"])("%s is loopback", (h) => {
    expect(isLoopbackHost(h)).toBe(true);
  });
  test.each(["sigma-api.internal", "10.0.0.1", "128.0.0.1", "[::2]", "localhost.example.com", "127.0.0.1.nip.io"])("%s is not", (h) => {
    expect(isLoopbackHost(h)).toBe(false);
  });

  test("plain http to another host is refused in one sentence; https and loopback http are fine", () => {
    expect(cleartextTokenProblem("http://sigma-api.internal/api/vps?key=secret", "SIGMA_API_TOKEN")).toBe(
      "--from http://sigma-api.internal/api/vps is plain http and $SIGMA_API_TOKEN is set: refusing to send the token in cleartext; use an https:// URL (or unset $SIGMA_API_TOKEN if the list needs no token).",
    );
    expect(cleartextTokenProblem("https://sigma-api.internal/api/vps", "T")).toBeUndefined();
    expect(cleartextTokenProblem("http://127.0.0.1:8080/vps", "T")).toBeUndefined();
    expect(cleartextTokenProblem("http://[::1]:8080/vps", "T")).toBeUndefined();
    expect(cleartextTokenProblem("http://localhost/vps", "T")).toBeUndefined();
    expect(cleartextTokenProblem("HTTP://127.1/vps", "T")).toBeUndefined(); // the URL parser's 127.0.0.1
  });

  describe("readSource", () => {
    let server: Server;
    let seen: (string | undefined)[] = [];
    let port = 0;
    beforeAll(async () => {
      server = createServer((req, res) => {
        seen.push(req.headers.authorization);
        res.setHeader("content-type", "application/json");
        res.end("[]");
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise<void>((r) => server.close(() => { r(); }));
    });
    beforeEach(() => {
      seen = [];
    });

    test("a token over plain http to a non-loopback host: refused before any request, exit 2", async () => {
      await expect(readSource("http://sigma-api.invalid/vps", { tokenEnv: "SIGMA_API_TOKEN", env: { SIGMA_API_TOKEN: "s3cret" } })).rejects.toMatchObject({
        exitCode: 2,
        message: expect.stringContaining("refusing to send the token in cleartext") as unknown,
      });
    });

    test("a token over http to loopback is sent; without a token plain http is fine", async () => {
      const url = `http://127.0.0.1:${port}/vps`;
      expect(await readSource(url, { tokenEnv: "T", env: { T: "s3cret" } })).toEqual({ text: "[]", name: url });
      expect(await readSource(url, { tokenEnv: "T", env: {} })).toEqual({ text: "[]", name: url });
      expect(seen).toEqual(["Bearer s3cret", undefined]);
    });
  });
});
