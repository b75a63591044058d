// Streams both ways with the bundled client. User-visible text goes in with textContent only.
const $ = (id) => document.getElementById(id);
const hub = Hubbub.connect('/hubs/stream');
hub.onconnected(() => { $('status').textContent = `connected over ${hub.transport}`; });
hub.onclose((err) => { $('status').textContent = `disconnected${err ? ': ' + err.message : ''}`; });

// Server to client: for await over hub.stream(); cancel() (or leaving the loop)
// tells the server, whose method's context ends.
let ticks = null;
$('start').onclick = async () => {
  $('start').disabled = true; $('stop').disabled = false;
  $('ticks').replaceChildren();
  $('ticks-result').textContent = 'streaming…';
  ticks = hub.stream('Ticks', 500);
  let n = 0;
  try {
    for await (const tick of ticks) {
      const li = document.createElement('li');
      li.textContent = `tick ${tick.n} at ${tick.time}`;
      $('ticks').append(li);
      n++;
    }
    $('ticks-result').textContent = `stopped after ${n} ticks; the server's goroutine saw the cancel and ended (see its log)`;
  } catch (err) {
    $('ticks-result').textContent = `the stream failed: ${err.message}`;
  }
  $('start').disabled = false; $('stop').disabled = true;
};
$('stop').onclick = () => ticks?.cancel();

// Client to server: an async iterable argument becomes an upload stream. Throwing
// from it fails the stream: the server's channel closes with its context ended.
let canceled = false;
async function* slowly(lines) {
  for (const line of lines) {
    await new Promise((r) => setTimeout(r, 300));
    if (canceled) throw new Error('canceled by the user');
    $('upload-result').textContent = `sent: ${line}`;
    yield line;
  }
}
$('upload').onclick = async () => {
  canceled = false;
  $('upload').disabled = true; $('cancel').disabled = false;
  const lines = $('lines').value.split('\n').filter((l) => l !== '');
  try {
    const sum = await hub.invoke('Upload', slowly(lines));
    $('upload-result').textContent = `the server counted ${sum.lines} lines, ${sum.bytes} bytes`;
  } catch (err) {
    $('upload-result').textContent = `upload failed: ${err.message}`;
  }
  $('upload').disabled = false; $('cancel').disabled = true;
};
$('cancel').onclick = () => { canceled = true; };
