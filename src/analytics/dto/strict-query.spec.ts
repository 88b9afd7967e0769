import { ApiError } from '../../common/http/api-error';
import { MetricsQueryDto, UserEventsQueryDto } from './analytics-query.dto';
import { StrictQueryPipe } from './strict-query';

const details = (fn: () => unknown): Array<{ field?: string }> => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).getStatus()).toBe(400);
    return ((err as ApiError).getResponse() as { error: { details: Array<{ field?: string }> } }).error.details;
  }
  throw new Error('expected a 400');
};

describe('StrictQueryPipe', () => {
  const metrics = new StrictQueryPipe(MetricsQueryDto);
  const events = new StrictQueryPipe(UserEventsQueryDto);

  it('accepts known string parameters', () => {
    expect(metrics.transform({ timeRange: '7d', eventType: 'page.view', userId: 'a.*b' })).toMatchObject({ timeRange: '7d', userId: 'a.*b' });
    expect(events.transform({ limit: '1000' }).limit).toBe(1000);
  });

  it.each([
    [{ 'eventType[$ne]': 'x' }, 'eventType[$ne]'],
    [{ eventType: { $ne: 'x' } }, 'eventType'],
    [{ userId: ['a', 'b'] }, 'userId'],
    [{ timeRange: '2d' }, 'timeRange'],
    [{ from: 'yesterday' }, 'from'],
    [{ eventType: '' }, 'eventType'],
    [{ eventType: '1abc' }, 'eventType'],
  ])('refuses %j', (query, field) => {
    expect(details(() => metrics.transform(query)).map((d) => d.field)).toContain(field);
  });

  it.each(['0', '1001', '1.5', 'abc', ''])('refuses limit=%s', (limit) => {
    expect(details(() => events.transform({ limit })).map((d) => d.field)).toContain('limit');
  });
});
