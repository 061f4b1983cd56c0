import { formatCount } from '../format';

/** Redeemed of assigned: how many handed-out codes were used at checkout. */
export function Conversion(props: { redeemed: number; assigned: number }) {
  const percent = props.assigned > 0 ? Math.round((1000 * props.redeemed) / props.assigned) / 10 : null;
  return (
    <p class="conversion" role="group" aria-label="Conversion">
      <span class="num">{formatCount(props.redeemed)}</span> redeemed of <span class="num">{formatCount(props.assigned)}</span> assigned
      {percent !== null && <> ({percent} %)</>}
    </p>
  );
}
