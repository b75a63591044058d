// The classic script's global, as a page using <script src=".../hubbub.js"> sees it.
const hub: Hubbub.HubConnection = Hubbub.connect('/hubs/chat');
hub.on('tick', (n: number) => n);
