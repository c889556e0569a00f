#!/usr/bin/env python3
"""A vicer vehicle in Python: camera frames and telemetry to the relay, controls to the motors.

Runs on python-socketio 5.x (Debian: apt-get install python3-socketio python3-websocket python3-requests). The camera comes from
OpenCV (python3-opencv) when one opens; otherwise a test pattern is drawn with Pillow (python3-pil) or produced by
ffmpeg. Every applied command can be written as a JSON line to stdout (--controls-out -) for a motor driver.

    python3 apps/vehicle-py/vehicle.py --server http://localhost:3000 --token vt_... [--source auto|camera:0|test]

It keeps running through disconnects: the library reconnects after a dropped connection, and this program connects
again (with backoff) after the server closed the session (token rotated, kicked, server restarted). A refused
connection prints the server's reason; a refused token ends the program with exit code 1.
"""

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import engineio
import socketio

NAMESPACE = '/relay'
DEADMAN_S = 0.5  # RELAY_LIMITS.agentDeadManMs: no control for this long stops the car
TELEMETRY_HZ = 10


def log(line):
    print(f'[vehicle-py] {line}', file=sys.stderr, flush=True)


class Motors:
    """What the motors are told: the last command, or zero after stop, e-stop or the dead-man."""

    def __init__(self, out):
        self.out = out
        self.throttle = 0.0
        self.steer = 0.0
        self.lock = threading.Lock()

    def apply(self, seq, throttle, steer, reason):
        with self.lock:
            if reason != 'control' and self.throttle == 0 and self.steer == 0 and reason != 'estop':
                return
            self.throttle, self.steer = throttle, steer
            if self.out:
                self.out.write(json.dumps({'at': int(time.time() * 1000), 'seq': seq, 'throttle': throttle, 'steer': steer, 'reason': reason}) + '\n')
                self.out.flush()


class Camera:
    """JPEG frames from OpenCV, else a test pattern (Pillow, else ffmpeg's testsrc2)."""

    def __init__(self, source, width, height, fps):
        self.width, self.height, self.fps = width, height, fps
        self.cv = None
        self.ffmpeg = None
        self.buf = b''
        self.n = 0
        self.kind = None
        if source.startswith('camera') or source == 'auto':
            index = int(source.split(':', 1)[1]) if ':' in source else 0
            try:
                import cv2  # noqa: PLC0415 - optional dependency
                cap = cv2.VideoCapture(index)
                if cap.isOpened():
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
                    self.cv, self.cv2, self.kind = cap, cv2, f'camera {index} (OpenCV)'
            except ImportError:
                pass
            if not self.cv and source != 'auto':
                raise SystemExit(f'error: camera {index} cannot be opened (OpenCV: apt-get install python3-opencv)')
        if not self.cv:
            try:
                from PIL import Image, ImageDraw  # noqa: PLC0415 - optional dependency
                self.pil = (Image, ImageDraw)
                self.kind = 'test pattern (Pillow)'
            except ImportError:
                self.pil = None
                if not shutil.which('ffmpeg'):
                    raise SystemExit('error: no camera, and neither Pillow (python3-pil) nor ffmpeg for a test pattern')
                self.ffmpeg = subprocess.Popen(
                    ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', f'testsrc2=size={width}x{height}:rate={fps}',
                     '-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '5', 'pipe:1'],
                    stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
                self.kind = 'test pattern (ffmpeg testsrc2)'

    def frame(self):
        """The next JPEG (bytes starting with FF D8), or None."""
        self.n += 1
        if self.cv:
            ok, img = self.cv.read()
            if not ok:
                return None
            ok, jpeg = self.cv2.imencode('.jpg', img, [int(self.cv2.IMWRITE_JPEG_QUALITY), 75])
            return jpeg.tobytes() if ok else None
        if self.ffmpeg:
            while True:
                start = self.buf.find(b'\xff\xd8')
                end = self.buf.find(b'\xff\xd9', start + 2) if start >= 0 else -1
                if start >= 0 and end >= 0:
                    jpeg, self.buf = self.buf[start:end + 2], self.buf[end + 2:]
                    return jpeg
                chunk = self.ffmpeg.stdout.read1(65536) if hasattr(self.ffmpeg.stdout, 'read1') else self.ffmpeg.stdout.read(4096)
                if not chunk:
                    return None
                self.buf += chunk
        image, draw = self.pil
        img = image.new('RGB', (self.width, self.height), (22, 48, 28))
        d = draw.Draw(img)
        x = (self.n * 8) % self.width
        d.rectangle([x, 0, x + 40, self.height], fill=(253, 216, 53))
        d.text((8, 8), f'vehicle-py {time.strftime("%H:%M:%S")} #{self.n}', fill=(255, 255, 255))
        out = io.BytesIO()
        img.save(out, 'JPEG', quality=75)
        return out.getvalue()

    def close(self):
        if self.cv:
            self.cv.release()
        if self.ffmpeg:
            self.ffmpeg.kill()


class OrderedEngineIO(engineio.Client):
    """Handles messages in the order they arrive. python-engineio runs each message in a thread of its own, so two
    controls a few milliseconds apart could be applied newest first; the handlers here are short."""

    def _trigger_event(self, event, *args, **kwargs):
        kwargs['run_async'] = False
        return super()._trigger_event(event, *args, **kwargs)


class OrderedClient(socketio.Client):
    def _engineio_client_class(self):
        return OrderedEngineIO


class Vehicle(socketio.ClientNamespace):
    """The /relay namespace as a vehicle sees it."""

    def __init__(self, agent):
        super().__init__(NAMESPACE)
        self.agent = agent

    def trigger_event(self, event, *args):
        # Event names such as estop:clear map to methods such as on_estop_clear.
        return super().trigger_event(event.replace(':', '_'), *args)

    def on_connect(self):
        log(f'connected to {self.agent.args.server}')
        self.agent.refused = None
        self.agent.fence = None  # a new connection is driven only after a new seat

    def on_connect_error(self, data):
        reason = data.get('message') if isinstance(data, dict) else str(data)
        log(f'connect_error: {reason}')
        self.agent.refused = reason

    def on_disconnect(self, *args):
        log('disconnected; reconnecting')
        self.agent.motors.apply(None, 0, 0, 'disconnected')

    def on_control(self, cmd):
        self.emit('control:ack', {'seq': cmd['seq']})
        self.agent.on_control(cmd)

    def on_stop(self, data):
        self.agent.fence = None
        self.agent.motors.apply(None, 0, 0, 'stop')

    def on_seat(self, data):
        # Fencing tokens only grow: an older or repeated seat is stale.
        fence = data.get('fence') if isinstance(data, dict) else None
        if isinstance(fence, (int, float)) and fence > self.agent.max_fence:
            self.agent.max_fence = self.agent.fence = fence

    def on_estop(self, data):
        gen = data.get('gen') if isinstance(data, dict) else None
        self.agent.estopped = True
        self.agent.latch_gen = gen if isinstance(gen, (int, float)) else float('inf')
        self.agent.motors.apply(None, 0, 0, 'estop')

    def on_estop_clear(self, data):
        # A clear older than the latch that holds (late, or out of order) does not end it.
        gen = data.get('gen') if isinstance(data, dict) else None
        if isinstance(gen, (int, float)) and gen > self.agent.latch_gen:
            self.agent.estopped = False

    def on_error(self, err):
        log(f"server refused {err.get('event')}: {err.get('code')} {err.get('message')}")


class Agent:
    def __init__(self, args):
        self.args = args
        self.motors = Motors(sys.stdout if args.controls_out == '-' else None)
        self.camera = Camera(args.source, args.width, args.height, args.fps)
        self.running = True
        self.estopped = False
        self.latch_gen = 0
        self.fence = None  # the current seat's fencing token; None: nobody may drive
        self.max_fence = 0
        self.refused = None
        self.last_control = 0.0
        self.sio = None
        self.frame_seq = 0
        self.speed = 0.0

    def on_control(self, cmd):
        if self.estopped or self.fence is None or cmd.get('fence') != self.fence:
            return
        self.last_control = time.monotonic()
        self.motors.apply(cmd['seq'], cmd['throttle'], cmd['steer'], 'control')

    def emit(self, event, data):
        """Sends when connected; a message that cannot go now is dropped (never queued behind newer ones)."""
        sio = self.sio
        if not sio or not sio.connected or NAMESPACE not in sio.namespaces:
            return False
        try:
            sio.emit(event, data, namespace=NAMESPACE)
            return True
        except (socketio.exceptions.BadNamespaceError, socketio.exceptions.SocketIOError, OSError) as e:
            log(f'dropped {event}: {e}')
            return False

    def video_loop(self):
        period = 1 / self.args.fps
        while self.running:
            t0 = time.monotonic()
            jpeg = self.camera.frame()
            if jpeg:
                meta = {'seq': self.frame_seq, 'capturedAt': time.time() * 1000, 'width': self.args.width, 'height': self.args.height, 'codec': 'jpeg'}
                if self.emit('frame', (meta, jpeg)):
                    self.frame_seq += 1
            time.sleep(max(0, period - (time.monotonic() - t0)))

    def control_loop(self):
        last_telemetry = 0.0
        while self.running:
            now = time.monotonic()
            if self.motors.throttle != 0 or self.motors.steer != 0:
                if now - self.last_control > DEADMAN_S:
                    self.motors.apply(None, 0, 0, 'deadman')
            target = self.motors.throttle * 3
            self.speed += max(-0.24, min(0.24, target - self.speed))
            if now - last_telemetry >= 1 / TELEMETRY_HZ:
                last_telemetry = now
                self.emit('telemetry', {'speed': round(self.speed, 3), 'throttle': self.motors.throttle, 'steer': self.motors.steer, 'estopped': self.estopped, 'agent': 'vehicle-py'})
            time.sleep(0.02)

    def run(self):
        log(f'video: {self.camera.kind}, {self.args.width}x{self.args.height} at {self.args.fps} fps')
        threading.Thread(target=self.video_loop, daemon=True).start()
        threading.Thread(target=self.control_loop, daemon=True).start()
        backoff = 0.5
        while self.running:
            sio = OrderedClient(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5, randomization_factor=0.3, handle_sigint=False)
            sio.register_namespace(Vehicle(self))
            self.sio = sio
            try:
                sio.connect(self.args.server, namespaces=[NAMESPACE], auth={'vehicleToken': self.args.token}, wait_timeout=5)
                backoff = 0.5
                sio.wait()  # until the connection ends for good: the server closed the session, or reconnecting gave up
            except socketio.exceptions.ConnectionError as e:
                if self.refused == 'unauthorized':
                    log('the server refused the vehicle token (unauthorized)')
                    self.stop()
                    return 1
                log(f'cannot connect: {self.refused or e}; retrying in {backoff:.1f} s')
            finally:
                try:
                    sio.disconnect()
                except Exception:  # noqa: BLE001 - already closed
                    pass
            if self.running:
                time.sleep(backoff)
                backoff = min(5.0, backoff * 2)
        return 0

    def stop(self):
        self.running = False
        self.motors.apply(None, 0, 0, 'shutdown')
        self.camera.close()
        if self.sio:
            try:
                self.sio.disconnect()
            except Exception:  # noqa: BLE001 - already closed
                pass


def main():
    p = argparse.ArgumentParser(description='A vicer vehicle: camera and telemetry up, controls down.')
    p.add_argument('--server', default='http://localhost:3000')
    p.add_argument('--token', default=os.environ.get('VICER_VEHICLE_TOKEN'), help='the vehicle token (or VICER_VEHICLE_TOKEN)')
    p.add_argument('--source', default='auto', help='auto (camera if one opens, else a test pattern), camera:N, or test')
    p.add_argument('--fps', type=int, default=15)
    p.add_argument('--size', default='640x480')
    p.add_argument('--controls-out', choices=['-'], help='write every applied command as a JSON line to stdout')
    args = p.parse_args()
    if not args.token:
        p.error('--token is required (the token shown when the vehicle was registered)')
    if not args.server.startswith(('http://', 'https://')):
        p.error('--server must be an http(s) URL')
    if not 1 <= args.fps <= 60:
        p.error('--fps must be from 1 to 60')
    try:
        args.width, args.height = (int(x) for x in args.size.split('x'))
    except ValueError:
        p.error('--size must look like 640x480')
    if args.source not in ('auto', 'test') and not args.source.startswith('camera'):
        p.error('--source must be auto, test or camera:N')
    agent = Agent(args)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (agent.stop(), sys.exit(0)))
    sys.exit(agent.run())


if __name__ == '__main__':
    main()
