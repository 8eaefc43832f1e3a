/**
 * A gate a test opens by hand, to hold one party of a race at a chosen point: `await
 * gate.opened` waits until `gate.open()`.
 *
 * @example const onWire = latch(); … onWire.open(); … await onWire.opened;
 */
export function latch(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
