// Drives Gatehouse (or Pushpin) with the third-party GRIP library @fanoutio/grip.
//
//   node grip.mjs hold CHANNEL
//       prints the response headers of a stream hold on CHANNEL with a keep-alive, built
//       with GripInstruct (the origin of the Go test serves them).
//   node grip.mjs publish CONTROL_URI TOKEN CHANNEL
//       publishes with Publisher to CONTROL_URI (TOKEN "-": no authentication, else sent as
//       "Authorization: Bearer TOKEN", the library's {control_uri, key} form): an
//       http-stream item and a close to CHANNEL, and an http-response item to CHANNEL-r.
import { GripInstruct, Publisher, HttpStreamFormat, HttpResponseFormat } from '@fanoutio/grip';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'hold') {
  const [channel] = args;
  const gi = new GripInstruct(channel);
  gi.setHoldStream();
  gi.setKeepAlive('lib ka\n', 20);
  process.stdout.write(JSON.stringify(gi.toHeaders()));
} else if (mode === 'publish') {
  const [controlUri, token, channel] = args;
  const config = { control_uri: controlUri };
  if (token !== '-') {
    config.key = token;
  }
  const publisher = new Publisher(config);
  try {
    await publisher.publishHttpStream(channel, 'lib stream\n');
    await publisher.publishHttpResponse(channel + '-r', new HttpResponseFormat({
      headers: { 'X-Lib': 'grip' },
      body: 'lib response\n',
    }));
    await new Promise((r) => setTimeout(r, 300));
    await publisher.publishFormats(channel, new HttpStreamFormat(null, true));
    process.stdout.write('published\n');
  } catch (err) {
    process.stdout.write(`publish failed: ${err.message} ${JSON.stringify(err.context ?? {})}\n`);
    process.exit(1);
  }
} else {
  process.stderr.write('usage: grip.mjs hold CHANNEL | publish CONTROL_URI TOKEN CHANNEL\n');
  process.exit(2);
}
