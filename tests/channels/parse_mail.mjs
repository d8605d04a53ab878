// The tests' independent reading of an e-mail: each .eml file named on the command line parsed
// by npm `mailparser` (simpleParser, the parser of Nodemailer's family, which decodes RFC 2047
// encoded-words, quoted-printable and multipart bodies on its own), printed on stdout as one
// JSON array, in the order of the arguments:
//
//   [{"file", "subject", "text", "html", "messageId", "date" (ISO 8601, or null),
//     "from": {"address", "name"}, "to": [{"address", "name"}], "replyTo": {…} or null,
//     "headers": {"auto-submitted", "mime-version", "content-type", "content-language",
//                 "x-auto-response-suppress"}  (as parsed; absent when not in the message)
//     "attachments": <count>}]
//
// Exit status 2 when a file cannot be read or parsed. Usage: node parse_mail.mjs a.eml b.eml
import { readFile } from "node:fs/promises";
import { simpleParser } from "mailparser";

const kHeaders = [
  "auto-submitted",
  "mime-version",
  "content-type",
  "content-language",
  "x-auto-response-suppress",
];

function first(addressObject) {
  if (!addressObject || !addressObject.value || addressObject.value.length === 0) return null;
  const { address, name } = addressObject.value[0];
  return { address, name };
}

function plain(value) {
  // Structured headers (content-type) come as {value, params}.
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (value instanceof Date) return value.toISOString();
  return JSON.parse(JSON.stringify(value));
}

const out = [];
for (const file of process.argv.slice(2)) {
  try {
    const mail = await simpleParser(await readFile(file));
    const headers = {};
    for (const name of kHeaders) {
      if (mail.headers.has(name)) headers[name] = plain(mail.headers.get(name));
    }
    out.push({
      file,
      subject: mail.subject ?? null,
      text: mail.text ?? null,
      html: mail.html === false ? null : (mail.html ?? null),
      messageId: mail.messageId ?? null,
      date: mail.date ? mail.date.toISOString() : null,
      from: first(mail.from),
      to: mail.to ? mail.to.value.map(({ address, name }) => ({ address, name })) : [],
      replyTo: first(mail.replyTo),
      headers,
      attachments: mail.attachments.length,
    });
  } catch (error) {
    console.error(`${file}: ${error.message}`);
    process.exit(2);
  }
}
process.stdout.write(JSON.stringify(out));
