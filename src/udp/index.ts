export { UdpServer, type UdpServerOptions, type UdpStats, type PickPeer, type UdpPeer } from './server.js';
