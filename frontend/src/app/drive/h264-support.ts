/** Whether this browser can decode the relay's H.264 (WebCodecs with AVC). */
export async function canDecodeH264(): Promise<boolean> {
  if (typeof VideoDecoder === 'undefined') return false;
  try {
    return (await VideoDecoder.isConfigSupported({ codec: 'avc1.42C01E', optimizeForLatency: true })).supported === true;
  } catch {
    return false;
  }
}
