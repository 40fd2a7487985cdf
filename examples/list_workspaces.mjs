// The user guide's TypeScript/Node example, pointed at this tenant (Node 18+).
// MOLECULE_ORG_TOKEN: an org API key; MOLECULE_URL: the tenant (default http://127.0.0.1:8080).
const base = process.env.MOLECULE_URL ?? "http://127.0.0.1:8080";
const resp = await fetch(`${base}/workspaces`, {
  headers: { Authorization: `Bearer ${process.env.MOLECULE_ORG_TOKEN}` },
});
if (!resp.ok) throw new Error(`${resp.status}: ${await resp.text()}`);
console.log(await resp.json());
