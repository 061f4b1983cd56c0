import { render } from 'preact';
import { App } from './app';
import { restoreSession } from './session';
import './styles.css';

restoreSession();
render(<App />, document.getElementById('app')!);
