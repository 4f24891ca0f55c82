// The two node globals the client's dependencies read (webpack 4 provided them).
export { default as process } from 'process/browser.js';
export { Buffer } from 'buffer';
