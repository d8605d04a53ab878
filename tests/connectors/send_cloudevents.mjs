// A CloudEvents producer for trêve's integration tests: the CloudEvents JavaScript SDK builds
// (and validates) each event and serialises it with its own HTTP binding, HTTP.structured or
// HTTP.binary; batched mode, which the SDK does not serialise, is the JSON array of the SDK's
// own JSON form of each event, as the binding's section 3.3 specifies.
//
//   node send_cloudevents.mjs URL TOKEN MODE < events.json
//
// MODE: structured | binary (one request per event) | batched (one request for all). The
// events are a JSON array of CloudEvent attribute objects (data included). Prints one JSON
// object per request on standard output: {"status", "replayed", "content_type", "body"}.
import { CloudEvent, HTTP } from "cloudevents";

const [url, token, mode] = process.argv.slice(2);
if (!url || !token || !["structured", "binary", "batched"].includes(mode)) {
  console.error("usage: send_cloudevents.mjs URL TOKEN structured|binary|batched < events.json");
  process.exit(2);
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const events = JSON.parse(input).map((attributes) => new CloudEvent(attributes));

async function send(target, headers, body) {
  const response = await fetch(target, {
    method: "POST",
    headers: { ...headers, Authorization: `Bearer ${token}` },
    body,
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  console.log(
    JSON.stringify({
      status: response.status,
      replayed: response.headers.get("idempotent-replayed"),
      content_type: response.headers.get("content-type"),
      body: parsed,
    }),
  );
}

if (mode === "batched") {
  await send(
    `${url}/v1/events:batch`,
    { "Content-Type": "application/cloudevents-batch+json" },
    JSON.stringify(events.map((e) => e.toJSON())),
  );
} else {
  for (const event of events) {
    const message = mode === "binary" ? HTTP.binary(event) : HTTP.structured(event);
    await send(`${url}/v1/events`, message.headers, message.body);
  }
}
