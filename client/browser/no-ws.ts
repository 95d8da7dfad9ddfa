/** The `ws` package in the browser bundle: never used there (browsers have WebSocket). */
export default undefined;
