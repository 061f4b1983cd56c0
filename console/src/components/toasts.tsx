import { signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { subscribe } from '../api/live';
import { LowStockAlerts, type LowStock } from '../documents/lists';
import { formatCount } from '../format';
import { Link } from '../router';

const alerts = signal<(LowStock & { key: string })[]>([]);

/** Low-stock alerts, on every page, until dismissed (the newest five). */
export function Toasts() {
  useEffect(() => {
    const stop = subscribe(LowStockAlerts, {}, ({ lowStockAlerts: alert }) => {
      alerts.value = [{ ...alert, key: `${alert.listId}-${alert.at}` }, ...alerts.value.filter((a) => a.listId !== alert.listId)].slice(0, 5);
    });
    return () => {
      stop();
      alerts.value = []; // signed out: the next session starts clean
    };
  }, []);
  const dismiss = (key: string) => (alerts.value = alerts.value.filter((a) => a.key !== key));
  return (
    <div class="toasts">
      {alerts.value.map((alert) => (
        <div key={alert.key} class="toast" role="alert">
          <p>
            <strong>Low stock:</strong> {alert.listName} has {formatCount(alert.availableCodes)} codes left (warning limit {formatCount(alert.warningLimit)}).{' '}
            <Link to={`lists/${alert.listId}`}>Open the list</Link>
          </p>
          <button type="button" aria-label={`Dismiss the alert about ${alert.listName}`} onClick={() => dismiss(alert.key)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
