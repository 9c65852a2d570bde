/** The job/replica/task prefix of every device of a single-process session. */
export const LOCAL_DEVICE_PREFIX = '/job:localhost/replica:0/task:0';

/** Full TensorFlow name of a local device: `/job:localhost/replica:0/task:0/device:GPU:0`. */
export function localDeviceName(type: string, index: number): string {
  return `${LOCAL_DEVICE_PREFIX}/device:${type}:${index}`;
}
